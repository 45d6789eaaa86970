/** aedes with its in-memory defaults on 127.0.0.1:<argv[2]>, for the benchmark. */
import net from 'node:net';
import { Aedes } from 'aedes';

const port = Number(process.argv[2]);
const broker = await Aedes.createBroker();
// The other two brokers disable Nagle on client sockets; without this aedes would be measured
// with a different TCP setting, not a different broker.
const server = net.createServer({ noDelay: true }, broker.handle);
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
