"""The page callbacks, one module per page area. Importing this package registers nothing:
``app.create_app`` imports the modules it wires, and importing a module registers its
callbacks with ``dash.callback``; ``callbacks.ids`` holds only component ids."""
