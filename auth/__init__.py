"""Who a request is and what it may do: accounts, login, API tokens, roles, and the web
safety every request passes (Host, Origin, body type, headers, size).

One guard (``auth.guard``) runs before every Flask route and Dash callback: it identifies
the request (``auth.identity``), looks up the role the route or callback needs
(``auth.policy``) and refuses the request before any handler runs.
"""
