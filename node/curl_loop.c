/* curl_loop.c: placeholder, being written. */
