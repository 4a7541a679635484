// The system's OpenSSL 3 libcrypto (libssl-dev), used only for packet ciphers: its EVP interface encrypts and
// decrypts in place, where swift-crypto returns new Data for every packet (see ../shared/ARCHITECTURE.md, crypto backend).
#include <openssl/evp.h>
