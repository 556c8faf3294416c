// The script-tag entry (dist/waymark.min.js): installs Waymark from its own <script> tag's data-
// attributes and replaces the loader stub (src/autotrack/script-tag.ts). It exports nothing.
import { install } from './autotrack/script-tag'

install(document.currentScript, window)
