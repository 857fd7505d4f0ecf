/* render_json.c: placeholder, being written. */
