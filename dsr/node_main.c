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
	int rc = dsr_node_main(argc, argv, stdout, stderr);
	/* the setup commands' usage (no command, or --help): name the agent too */
	if (argc < 2 || argv[1][0] == '-')
		fprintf(rc == 0 ? stdout : stderr,
		        "       s3lb-node agent --listen ADDR:PORT --key-file FILE --s3 ADDR:PORT "
		        "--vip ADDR...\n"
		        "  agent     take over connections handed off by the director "
		        "(s3lb-node agent --help)\n");
	return rc;
}
