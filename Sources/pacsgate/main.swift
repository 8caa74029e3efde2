// Thin executable: everything lives in PacsgateApp.
print("pacsgate")
