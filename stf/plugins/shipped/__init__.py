"""Plugins that ship with stf: each module here declares COMMANDS (and
VERSION), imports only stf.plugins.api and stf.core, and is loaded as the
'shipped' source (stf.plugins.loader), as any plugin an analyst installs."""
