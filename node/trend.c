/* trend.c: placeholder, being written. */
