"""Commands from outside stf's own rooms: plugins, found explicitly (the
shipped ones, packages declaring the entry point group `stf.plugins`, .py
files in $STF_HOME/plugins/ and the folder stf.conf names). A plugin
imports stf.plugins.api and nothing else of stf."""
