#ifndef RAGD_VERSION_H
#define RAGD_VERSION_H
#define RAGD_VERSION "0.1.0"
#endif
