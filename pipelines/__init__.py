"""Pipeline wiring and the command line that compiles and runs it."""
