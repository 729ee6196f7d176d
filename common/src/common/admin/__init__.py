"""`ticketing-admin`: inspect and repair the running platform (`cli`), and the services' side
of the commands that need a service's own database (`responder`)."""
