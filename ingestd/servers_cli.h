/* `ingestd servers ...`: the operator's tool to create, list, pin, unpin and revoke game servers. */
#ifndef MOHSTATS_SERVERS_CLI_H
#define MOHSTATS_SERVERS_CLI_H

/* Run the subcommand in argv (argv[0] is "servers"); returns the process exit code. */
int servers_cli(int argc, char **argv);

#endif
