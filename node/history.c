/* history.c: placeholder, being written. */
