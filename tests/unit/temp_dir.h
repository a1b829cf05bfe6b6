/* Temporary directories for unit tests that need files (spools, a throwaway Redis's data). */
#ifndef MOHSTATS_TEST_TEMP_DIR_H
#define MOHSTATS_TEST_TEMP_DIR_H

/* A fresh directory under /tmp, malloc'd; the test fails if it cannot be made. */
char *temp_dir(void);
/* Remove the directory and everything in it; the test fails if that fails. */
void remove_dir(const char *dir);

#endif
