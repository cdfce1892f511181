// imagenet_conv.h — `hpff_data imagenet [options] DIR OUT.h5`: ILSVRC2012 (imagenet_list.h)
// into the encoded-JPEG layout (jpeg_writer.h), optionally as N shard files. Images are read,
// checked and re-encoded where needed (imagenet_img.h) by several threads and written in
// listing order, so the output does not depend on the thread count.
#ifndef HPFF_IMAGENET_CONV_H
#define HPFF_IMAGENET_CONV_H

// argv[0] is "imagenet"; returns the process exit code (0 done, 1 failed, 2 usage).
int hpff_imagenet_main(int argc, char **argv);

#endif
