/* master_avail.h - each listener's pool sized from the scoreboard. */
#ifndef SMTPGATE_MASTER_AVAIL_H
#define SMTPGATE_MASTER_AVAIL_H

struct master;

/* Grow, shrink and watch (stress) each pool of the current generation. */
void master_avail_size_pools(struct master *m);

#endif
