'use strict';
/*
 * size.js - sdk/vigil.js minified (terser) and gzipped must stay under 4 KiB,
 * the size sdk/README.md states. Prints the figures.
 */
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const {minify} = require('terser');

const LIMIT = 4096;

(async () => {
    const file = path.join(__dirname, '..', '..', 'sdk', 'vigil.js');
    const src = fs.readFileSync(file, 'utf8');
    const min = (await minify(src, {compress: true, mangle: true})).code;
    const gz = zlib.gzipSync(min, {level: 9}).length;
    console.log(`sdk/vigil.js: ${src.length} bytes, minified ${min.length}, ` +
        `minified and gzipped ${gz} (limit ${LIMIT})`);
    if (gz >= LIMIT) {
        console.error(`sdk/vigil.js is ${gz} bytes minified and gzipped: over ${LIMIT}`);
        process.exit(1);
    }
})().catch((e) => {
    console.error(e);
    process.exit(1);
});
