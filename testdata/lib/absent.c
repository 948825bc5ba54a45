/* The stand-in librmpack_absent.so.1 that modules/needs_absent.c links against and that is
 * never installed where the module is loaded. */
int rmpack_absent_value(void);
int rmpack_absent_value(void) { return 42; }
