// nodesend: submits one message file with nodemailer's SMTP transport, as Node.js apps do.
//
//   node nodesend.js --addr 127.0.0.1:2587 --tls starttls|implicit --ca ca.pem --auth PLAIN|LOGIN \
//        --user U --pass P --from a@example.test --to b@example.org --file message.eml
//
// The message goes as it is (`raw`), with the envelope given. nodemailer adds SMTPUTF8 only
// for a UTF-8 envelope address, and BODY=8BITMIME when the message has 8-bit octets.
// Exit status 0 when the server accepted the message; otherwise the error is printed.
'use strict';
const fs = require('fs');
const nodemailer = require('nodemailer');

function args(argv) {
  const out = {};
  for (let i = 0; i + 1 < argv.length; i += 2) {
    if (!argv[i].startsWith('--')) throw new Error('unexpected argument ' + argv[i]);
    out[argv[i].slice(2)] = argv[i + 1];
  }
  for (const k of ['addr', 'tls', 'ca', 'auth', 'user', 'pass', 'from', 'to', 'file']) {
    if (!(k in out)) throw new Error('missing --' + k);
  }
  return out;
}

async function main() {
  const a = args(process.argv.slice(2));
  const [host, port] = a.addr.split(':');
  const transport = nodemailer.createTransport({
    host,
    port: Number(port),
    secure: a.tls === 'implicit',
    requireTLS: a.tls === 'starttls',
    auth: { user: a.user, pass: a.pass },
    authMethod: a.auth,
    // The test CA's certificate names "localhost"; connect to the address, check that name.
    tls: { ca: fs.readFileSync(a.ca), servername: 'localhost' },
    connectionTimeout: 30000,
    socketTimeout: 60000,
  });
  const info = await transport.sendMail({
    envelope: { from: a.from, to: a.to.split(',') },
    raw: fs.readFileSync(a.file),
  });
  console.log(info.response);
}

main().catch((e) => {
  console.error('nodesend:', e && e.message ? e.message : e);
  process.exit(1);
});
