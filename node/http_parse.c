/* http_parse.c: placeholder, being written. */
