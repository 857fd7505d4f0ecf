/* harness.c: placeholder, being written. */
