"""The control service: the fault API and the web console, in a process of its own (port 8080),
so that a fault which blocks or exhausts the shop never locks the controls."""
