"""Collection (P01-P06, P27): a collection point's fields validated, stored encrypted and
blind-indexed, with minors, phones and file imports."""
