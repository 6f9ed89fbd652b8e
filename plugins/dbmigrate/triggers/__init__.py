"""See the package docstring of `dbmigrate`."""
