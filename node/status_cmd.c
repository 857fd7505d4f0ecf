/* status_cmd.c: placeholder, being written. */
