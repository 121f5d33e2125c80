/* s3lb-node: storage-node setup for direct server return (see dsr/nodesetup.h). */
#include <stdio.h>

#include "dsr/nodesetup.h"

int main(int argc, char **argv)
{
	return dsr_node_main(argc, argv, stdout, stderr);
}
