"""troth's web pages, server-rendered with Jinja2 and usable without JavaScript: the
console (privacy office), the privacy centre (people), the tenant admin pages, one-click
unsubscribe and the cookie banner. ``troth.web.site.mount_web`` adds them to an app."""
