/* tok_weak.h - transitional: declares the tokenizer's functions weak so the engine links
 * before the tokenizer module is part of the build; tok_gguf_load then reports
 * RAGD_ENOTSUP. Include after tokenizer.h. Remove once tokenizer.c is in the tree. */
#ifndef RAGD_TOK_WEAK_H
#define RAGD_TOK_WEAK_H

#pragma weak tokenizer_create_bpe
#pragma weak tokenizer_create_wordpiece
#pragma weak tokenizer_free
#pragma weak tokenizer_encode
#pragma weak tokenizer_token_bytes
#pragma weak tokenizer_decode
#pragma weak tokenizer_n_vocab
#pragma weak tokenizer_special_id
#pragma weak tokenizer_find
#pragma weak tokenizer_token_type
#pragma weak tokenizer_stream_push
#pragma weak tokenizer_stream_flush

#endif
