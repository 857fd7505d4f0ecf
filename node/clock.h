/* clock.h: the node shell's two clocks. Pure cores never call these; time is passed to them. */
#ifndef MD_CLOCK_H
#define MD_CLOCK_H

#include <stdint.h>

/* md_wall_ms: wall-clock milliseconds since the Unix epoch (for timestamps people read). */
int64_t md_wall_ms(void);
/* md_mono_us: monotonic microseconds (for durations and scheduling). */
int64_t md_mono_us(void);

#endif
