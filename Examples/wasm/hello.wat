;; hello.wat: the smallest WAGI function, in WebAssembly text. Build: wat2wasm hello.wat
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; the response: CGI headers, a blank line, the body (41 bytes at offset 16)
  (data (i32.const 16) "Content-Type: text/plain\n\nhello from wat\n")
  (func (export "_start")
    ;; one iovec at 0: {buf = 16, len = 41}; fd_write(stdout, iovs, 1, &nwritten at 8)
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 41))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
