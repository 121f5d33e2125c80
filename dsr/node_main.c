/* s3lb-node: storage-node setup for direct server return (see dsr/nodesetup.h) and the handoff
 * agent (`s3lb-node agent`, see handoff/agent.h). */
#include <stdio.h>
#include <string.h>

#include "dsr/nodesetup.h"
#include "handoff/agent.h"

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "agent") == 0)
		return ho_agent_main(argc - 1, argv + 1, stdout, stderr);
	return dsr_node_main(argc, argv, stdout, stderr);
}
