// bench/stream.py's feeder for (g): serves WatchCiliumNetworkPolicies from a file of already
// encoded CiliumNetworkPolicyState messages (each behind a 4-byte big-endian length), to every
// caller, whatever it asks, then ends the stream. Not a control plane: it exists so that our
// client can be measured against a server that sends faster than the client reads: grpc-js
// queues a stream's writes without waiting for each to complete, where grpcio's Python servers
// wait for every message's send before the next.
//
//   node bench/feeder/server.js MESSAGES   (prints "listening on grpc://127.0.0.1:PORT")
const fs = require("fs");
const grpc = require("@grpc/grpc-js");
const data = fs.readFileSync(process.argv[2]);
const messages = [];
for (let at = 0; at < data.length; ) {
  const size = data.readUInt32BE(at);
  messages.push(data.subarray(at + 4, at + 4 + size));
  at += 4 + size;
}
const same = (x) => x;
const service = {
  WatchCiliumNetworkPolicies: {
    path: "/ctrl.v1.ClusterService/WatchCiliumNetworkPolicies",
    requestStream: false, responseStream: true,
    requestSerialize: same, requestDeserialize: same,
    responseSerialize: same, responseDeserialize: same,
  },
};
const server = new grpc.Server();
server.addService(service, {
  WatchCiliumNetworkPolicies: (call) => {
    let k = 0;
    const more = () => {
      while (k < messages.length) {
        if (!call.write(messages[k++])) { call.once("drain", more); return; }
      }
      call.end();
    };
    more();
  },
});
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stderr.write(`listening on grpc://127.0.0.1:${port}\n`);
});
