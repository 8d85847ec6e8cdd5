"""troth's own personal-data store: subjects, tenants, tagged records, encrypted where the
policy says the category is sensitive.

- :mod:`troth.store.tables`: the tables (tenants, subjects, their data keys, records);
- :mod:`troth.store.ids`: the ids troth gives what it stores (``new_id``, ``short_id``);
- :mod:`troth.store.subjects`: reading a subject, finding one through the blind indexes;
- :mod:`troth.store.values`: a subject's values read back, decrypted (one or in batches);
- :mod:`troth.store.erasure`: erasing people's data (records, keys, blind indexes);
- :mod:`troth.store.crypto`, :mod:`troth.store.keystore`: encryption and data keys;
- :mod:`troth.store.prefix`, :mod:`troth.store.reindex`: id prefixes, blind-index upkeep.
"""
