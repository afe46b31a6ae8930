"""The web page: static files with strict security headers, and an /api proxy for local runs."""
