/* s3lb-ipvs: show and reconcile the IPVS table (see dsr/ipvsctl.h). */
#include <stdio.h>

#include "dsr/ipvsctl.h"

int main(int argc, char **argv)
{
	return dsr_ipvs_main(argc, argv, stdout, stderr);
}
