"""plugtune's built-in plugins. Each subpackage is an ordinary plugin, loaded through the
``plugtune`` entry-point group exactly like a third-party one."""
