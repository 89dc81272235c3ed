"""The assembly: the web application, the command line and the Piccolo configuration, above every domain."""
