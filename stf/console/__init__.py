"""The console: start-up, the application and dispatch, the interactive
prompt, completion, rendering, batch runs and the editor. The only room that
knows the terminal."""
