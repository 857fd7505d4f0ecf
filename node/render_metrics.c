/* render_metrics.c: placeholder, being written. */
