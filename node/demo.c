/* demo.c: placeholder, being written. */
