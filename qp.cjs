const Database = require('better-sqlite3')
const db = new Database(process.argv[2], { readonly: true, fileMustExist: true })
const q = process.argv[3]
console.log(db.prepare('EXPLAIN QUERY PLAN ' + q).all().map(r => r.detail).join('\n'))
const t = process.hrtime.bigint(); const rows = db.prepare(q).all(); console.log(rows.length, 'rows', Number(process.hrtime.bigint() - t) / 1e6, 'ms')
