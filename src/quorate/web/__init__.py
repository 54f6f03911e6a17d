"""`quorate web`: a browser console for the cluster, served by its own process next to quorated.

Theory of operation: the daemon opens no port for it. The console is a separate process (`command`) that reaches
the local quorated only through the control socket, exactly as clustat and clusvcadm do (`link`), and serves
HTTPS to administrators who log in with their system password (PAM) and belong to a configured group (`auth`).
Pages are rendered on the server (`views`, `fragments`); a shared poller asks the daemon for its status twice a
second and pushes only the sections that changed to every open page over server-sent events (`live`). Every
state change is a POST carrying a token bound to the session (`sessions`), is logged with the user who asked,
and shows the daemon's own answer (`app`).
"""
