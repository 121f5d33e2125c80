/* core/notify.h over libsystemd's sd_notify(3). */
#include "core/notify.h"

#include <stdio.h>
#include <time.h>

#include <systemd/sd-daemon.h>

int lb_notify(lb_notify_t state, const char *status)
{
	char msg[512], mono[64] = "";
	const char *what = state == LB_NOTIFY_READY       ? "READY=1"
	                   : state == LB_NOTIFY_RELOADING ? "RELOADING=1"
	                                                  : "STOPPING=1";
	struct timespec ts;

	/* systemd 253's Type=notify-reload wants the clock with RELOADING=1; 252 ignores it */
	if (state == LB_NOTIFY_RELOADING && clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
		snprintf(mono, sizeof(mono), "\nMONOTONIC_USEC=%llu",
		         (unsigned long long)ts.tv_sec * 1000000ULL +
		             (unsigned long long)ts.tv_nsec / 1000ULL);
	snprintf(msg, sizeof(msg), "%s%s%s%s", what, mono, status ? "\nSTATUS=" : "",
	         status ? status : "");
	return sd_notify(0, msg);
}
