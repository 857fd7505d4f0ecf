/* dashboard.c: placeholder, being written. */
