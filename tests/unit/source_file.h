/* The repository's own files, for unit tests that check a file against the code (a migration's SQL against the C
 * that generates or reads it). */
#ifndef MOHSTATS_TEST_SOURCE_FILE_H
#define MOHSTATS_TEST_SOURCE_FILE_H

/* The whole text of the file at rel (a path from the repository's top), malloc'd and NUL-terminated; the test fails if
 * it cannot be read. */
char *source_file(const char *rel);

#endif
