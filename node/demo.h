/* demo.h: `medic demo`: a node, a demo service, a failure, and the recovery timeline. */
#ifndef MD_DEMO_H
#define MD_DEMO_H

/* md_demo_run runs the embedded demo and returns the exit code (0 when the timeline completed). */
int md_demo_run(int argc, char **argv);

#endif
