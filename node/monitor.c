/* monitor.c: placeholder, being written. */
