"""JSON API routes, one module per resource; each route is thin: validate, call a service, shape."""
