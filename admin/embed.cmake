# Turns a file into a C array at build time: cmake -DIN=FILE -DOUT=FILE.c -DNAME=symbol -P embed.cmake
# defines `const char NAME[]` (the bytes and a terminating NUL) and `const size_t NAME_len`.
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
get_filename_component(src "${IN}" NAME)
file(WRITE "${OUT}.tmp"
  "/* Generated from admin/${src} by admin/embed.cmake at build time: edit that file. */\n"
  "#include <stddef.h>\n\n"
  "#include \"admin/page.h\"\n\n"
  "const char ${NAME}[] = {\n${bytes}0x00};\n"
  "const size_t ${NAME}_len = sizeof(${NAME}) - 1;\n")
file(RENAME "${OUT}.tmp" "${OUT}")
